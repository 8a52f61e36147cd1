//! Broadcasts of stored media to a target: agent ids, area-code prefixes, groups, or all.
//! The target is resolved when the broadcast is made; each agent gets its own signed
//! `play_media` (its own sequence number) and reports receipts.

use std::collections::BTreeSet;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use dalaba_protocol::command::{Command, OnPreempt, PlayMedia};
use dalaba_protocol::{AgentId, BroadcastId, Mode, Priority, Timestamp, Volume};
use serde::Deserialize;
use serde_json::json;

use crate::access::{Action, Content, Role, allowed};
use crate::auth::AuthUser;
use crate::broadcast_spec::{BroadcastSpec, MediaSpec, Target};
use crate::dispatch::launch;
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::{AgentRecord, ReceiptRecord, ReceiptStatus};

/// The speakers a target selects: their ids in order, each once. Read as a slice of ids;
/// [`Chosen::contains`] is a binary search, so looking each of a county's agents up in it
/// (their records, the user's scope) is not 10,000 × 10,000 comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen(Vec<AgentId>);

impl Chosen {
    /// Whether `agent` is one of them.
    pub fn contains(&self, agent: &AgentId) -> bool {
        self.0.binary_search(agent).is_ok()
    }

    /// The ids, in order.
    pub fn into_vec(self) -> Vec<AgentId> {
        self.0
    }
}

impl std::ops::Deref for Chosen {
    type Target = [AgentId];

    fn deref(&self) -> &[AgentId] {
        &self.0
    }
}

impl FromIterator<AgentId> for Chosen {
    fn from_iter<I: IntoIterator<Item = AgentId>>(ids: I) -> Self {
        let mut ids: Vec<AgentId> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        Self(ids)
    }
}

/// `agents` by id.
fn by_id(agents: &[AgentRecord]) -> HashMap<&str, &AgentRecord> {
    agents.iter().map(|r| (r.id.as_str(), r)).collect()
}

/// What a target reaches: the speakers it selects, and their records.
#[derive(Debug)]
pub struct Reach {
    /// Their ids.
    pub chosen: Chosen,
    /// Their records, in the order stored.
    pub records: Vec<AgentRecord>,
}

impl Target {
    /// The speakers this target selects ([`Target::resolve`], or for `user`
    /// [`Target::resolve_for`]), read and resolved on the blocking pool: for a county that
    /// is 10,000 records read and checked (tens of milliseconds), which on a runtime
    /// thread would hold up the live frames queued to every agent.
    pub async fn reach(
        &self,
        state: &AppState,
        user: Option<&AuthUser>,
    ) -> Result<Reach, AppError> {
        let (state, target, user) = (state.clone(), self.clone(), user.cloned());
        crate::state::off_runtime(move || {
            let all = state.storage.agents()?;
            let chosen = match &user {
                Some(user) => target.resolve_for(user, &all)?,
                None => target.resolve(&all)?,
            };
            let records = all.into_iter().filter(|a| chosen.contains(&a.id)).collect();
            Ok(Reach { chosen, records })
        })
        .await?
    }

    /// The agents (not retired) this target selects.
    /// Work over every agent: never on the async runtime's threads (checked in debug
    /// builds; [`crate::state::off_runtime`]).
    pub fn resolve(&self, agents: &[AgentRecord]) -> Result<Chosen, AppError> {
        debug_assert!(
            !crate::state::on_runtime_thread(),
            "a target resolved on an async runtime thread: run it through state::off_runtime"
        );
        for a in &self.areas {
            if a.is_empty() || a.len() > 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                return Err(AppError::BadRequest(format!(
                    "area prefix {a:?}: 1 to 12 digits"
                )));
            }
        }
        // Only for a target that names speakers: the scheduler resolves every schedule.
        if !self.agents.is_empty() {
            let known = by_id(agents);
            for id in &self.agents {
                if !known.contains_key(id.as_str()) {
                    return Err(AppError::BadRequest(format!("no agent {id:?}")));
                }
            }
        }
        let named: HashSet<&str> = self.agents.iter().map(String::as_str).collect();
        let chosen: BTreeSet<AgentId> = agents
            .iter()
            .filter(|r| !r.retired)
            .filter(|r| {
                self.all
                    || named.contains(r.id.as_str())
                    || self.areas.iter().any(|p| r.area_code.has_prefix(p))
                    || self.groups.iter().any(|g| r.groups.contains(g))
            })
            .map(|r| r.id.clone())
            .collect();
        if chosen.is_empty() {
            return Err(AppError::BadRequest("the target selects no speaker".into()));
        }
        Ok(Chosen(chosen.into_iter().collect()))
    }

    /// The agents this target selects, refused unless every one lies inside `user`'s
    /// scope: the check is on the speakers reached, whatever way the target names them.
    pub fn resolve_for(&self, user: &AuthUser, agents: &[AgentRecord]) -> Result<Chosen, AppError> {
        // An id unknown and an id outside the user's areas get the same answer, so ids
        // cannot be probed.
        if !user.unscoped() && !self.agents.is_empty() {
            let known = by_id(agents);
            for id in &self.agents {
                if !known
                    .get(id.as_str())
                    .is_some_and(|r| user.covers(r.area_code.as_str()))
                {
                    return Err(AppError::Forbidden(format!(
                        "agent {id:?} is unknown or outside your areas: choose one of your speakers"
                    )));
                }
            }
        }
        let chosen = self.resolve(agents)?;
        user.check_agents(agents.iter().filter(|a| chosen.contains(&a.id)))?;
        Ok(chosen)
    }
}

/// Body of `POST /api/broadcasts`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateBroadcast {
    /// A ready media item; or, instead, `text`.
    #[serde(default)]
    pub media_id: Option<u64>,
    /// A notice to speak (`tts`), instead of a media item.
    #[serde(default)]
    pub text: Option<String>,
    /// The voices `text` is spoken in, in turn; default the deployment's.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, example = json!(["mandarin"]))]
    pub voices: Option<Vec<crate::tts::Voice>>,
    /// Who.
    pub target: Target,
    /// Default `scheduled`.
    #[serde(default = "default_priority")]
    #[schema(value_type = String, example = "scheduled")]
    pub priority: Priority,
    /// Volume for this broadcast.
    #[schema(value_type = Option<u8>, maximum = 100)]
    pub volume: Option<Volume>,
    /// Start this long from now (default 3 s, time for every agent to fetch the file).
    pub start_in_ms: Option<u64>,
    /// Times to play (default 1).
    #[serde(default = "one")]
    pub repeat: u16,
    /// Silence between repetitions.
    #[serde(default)]
    pub gap_ms: u32,
    /// Real, test or drill.
    #[serde(default)]
    #[schema(value_type = String, example = "real")]
    pub mode: Mode,
}

fn default_priority() -> Priority {
    Priority::Scheduled
}

fn one() -> u16 {
    1
}

/// What making a broadcast did.
#[derive(Debug)]
pub enum Made {
    /// Sent to its agents.
    Sent(serde_json::Value),
    /// Held until a second person approves it.
    Held(serde_json::Value),
}

/// Makes a broadcast of a library item, or of a typed notice spoken, to its target: sent,
/// or held for a second person.
pub async fn create(
    state: &AppState,
    user: &AuthUser,
    req: CreateBroadcast,
) -> Result<Made, AppError> {
    user.require(Action::Broadcast)?;
    user.check_priority(Content::Media, req.priority)?;
    let media_id = match (req.media_id, req.text.as_deref()) {
        (Some(id), None) => id,
        (None, Some(text)) => {
            if user.role == Role::VillageHead {
                return Err(AppError::Forbidden(
                    "a village head plays approved clips or speaks live; typed notices are sent by an operator".into(),
                ));
            }
            crate::tts::check_text(text).map_err(AppError::BadRequest)?;
            crate::tts::speak(state, text, req.voices.as_deref())
                .await
                .map_err(|e| match e {
                    AppError::Internal(e) => {
                        AppError::Conflict(format!("the text could not be spoken: {e:#}"))
                    }
                    other => other,
                })?
        }
        _ => {
            return Err(AppError::BadRequest(
                "media_id or text: one of them, what to play".into(),
            ));
        }
    };
    let media = state
        .storage
        .media(media_id)?
        .ok_or_else(|| AppError::NotFound(format!("media {media_id}")))?;
    if user.role == Role::VillageHead && !media.approved {
        return Err(AppError::Forbidden(format!(
            "media {} is not approved for village heads",
            media.id
        )));
    }
    let Some(media_ref) = media.media_ref()? else {
        return Err(AppError::BadRequest(format!(
            "media {} is not ready ({})",
            media.id, media.state
        )));
    };
    let hash = media_ref.hash;
    let duration_ms = media_ref.duration_ms;
    let Reach {
        chosen: agents,
        records,
    } = req.target.reach(state, Some(user)).await?;
    let start_at =
        state.clock.now_us() + req.start_in_ms.unwrap_or(3000).min(24 * 3600 * 1000) * 1000;
    let reached: Vec<&AgentRecord> = records.iter().collect();
    let held = crate::approval::reason(state, &req.target, &reached, req.priority, start_at)?;
    let id = state.storage.create_broadcast(
        Some(user.id),
        state.clock.now_us(),
        &BroadcastSpec::Pending,
    )?;
    let play = PlayMedia {
        broadcast_id: BroadcastId(id),
        media: media_ref,
        start_at: Timestamp(start_at),
        priority: req.priority,
        level: user.level_over(reached.iter().map(|a| a.area_code.as_str())),
        volume: req.volume,
        repeat: req.repeat.max(1),
        gap_ms: req.gap_ms,
        mode: req.mode,
        severity: None,
        on_preempt: OnPreempt::Resume,
        expires_at: Some(Timestamp(start_at + (duration_ms + 600_000) * 1000)),
    };
    let spec = MediaSpec {
        media_id: media.id,
        media_hash: hash.to_string(),
        target: req.target.clone(),
        agents: agents.iter().map(ToString::to_string).collect(),
        priority: req.priority,
        start_at,
        held: held.clone(),
        approved_by: None,
        rejected_by: None,
        play: Some(play.clone()),
    };
    state
        .storage
        .set_broadcast_spec(id, &BroadcastSpec::Media(spec.clone()))?;
    if let Some(why) = held {
        tracing::info!(user = %user.name, broadcast = id, "broadcast held for approval: {why}");
        // The approvals queue in every open console shows it at once.
        state.changes.bump();
        return Ok(Made::Held(
            json!({"id": id, "held": why, "agents": spec.agents,
                        "approve_url": format!("/api/broadcasts/{id}/approve")}),
        ));
    }
    let unreachable = dispatch(state, id, &agents, &play).await?;
    tracing::info!(user = %user.name, broadcast = id, agents = agents.len(), "broadcast sent");
    Ok(Made::Sent(
        json!({"id": id, "start_at": start_at, "agents": spec.agents, "unreachable": unreachable}),
    ))
}

/// Sends `play` to `agents` and keeps it running for reconnecting agents; returns the
/// agents it could not reach now (their receipts say so).
async fn dispatch(
    state: &AppState,
    id: u64,
    agents: &[AgentId],
    play: &PlayMedia,
) -> Result<Vec<String>, AppError> {
    let until = play.expires_at.map_or(play.start_at.0, |t| t.0);
    Ok(launch(state, id, agents, Command::PlayMedia(play.clone()), until).await?)
}

/// Held broadcast `id` still waiting for approval, and who asked for it.
fn held(state: &AppState, id: u64) -> Result<(MediaSpec, Option<i64>), AppError> {
    let record = state
        .storage
        .broadcast(id)?
        .ok_or_else(|| AppError::NotFound(format!("broadcast {id}")))?;
    let BroadcastSpec::Media(spec) = record.spec else {
        return Err(AppError::Conflict(format!(
            "broadcast {id} is not a held broadcast"
        )));
    };
    if spec.held.is_none() || record.stopped_at.is_some() {
        return Err(AppError::Conflict(format!(
            "broadcast {id} is not waiting for approval"
        )));
    }
    Ok((spec, record.created_by))
}

/// Whether `user` may approve or turn down `spec`: the right to approve, over every
/// speaker it reaches. Those speakers.
fn may_decide(
    state: &AppState,
    user: &AuthUser,
    spec: &MediaSpec,
) -> Result<Vec<AgentId>, AppError> {
    user.require(Action::Approve)?;
    let all = state.storage.agents()?;
    let agents: Chosen = spec.agents.iter().filter_map(|a| a.parse().ok()).collect();
    user.check_agents(all.iter().filter(|a| agents.contains(&a.id)))?;
    Ok(agents.into_vec())
}

/// A second authorised user sends a held broadcast
/// (starting 3 s from now if its planned start has passed).
pub async fn approve(
    state: &AppState,
    user: &AuthUser,
    id: u64,
) -> Result<serde_json::Value, AppError> {
    user.require(Action::Approve)?;
    let (mut spec, by_author) = held(state, id)?;
    if by_author == Some(user.id) {
        return Err(AppError::Forbidden(
            "a second person must approve: not the broadcast's author".into(),
        ));
    }
    let agents = may_decide(state, user, &spec)?;
    let mut play = spec
        .play
        .clone()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("held broadcast without a command")))?;
    let now = state.clock.now_us();
    if play.start_at.0 < now + 3_000_000 {
        let shift = now + 3_000_000 - play.start_at.0;
        play.start_at = Timestamp(play.start_at.0 + shift);
        play.expires_at = play.expires_at.map(|t| Timestamp(t.0 + shift));
    }
    spec.held = None;
    spec.approved_by = Some(user.name.clone());
    spec.start_at = play.start_at.0;
    spec.play = Some(play.clone());
    state
        .storage
        .set_broadcast_spec(id, &BroadcastSpec::Media(spec.clone()))?;
    let unreachable = dispatch(state, id, &agents, &play).await?;
    state.changes.bump();
    tracing::info!(user = %user.name, broadcast = id, "held broadcast approved and sent");
    Ok(
        json!({"id": id, "start_at": spec.start_at, "agents": spec.agents,
                "approved_by": user.name, "unreachable": unreachable}),
    )
}

/// Turns down held broadcast `id`: it is never sent. A user who may approve it (not its
/// author: a second person) or its author (withdrawing it) may.
pub fn reject(state: &AppState, user: &AuthUser, id: u64) -> Result<serde_json::Value, AppError> {
    let (mut spec, by_author) = held(state, id)?;
    if by_author != Some(user.id) {
        may_decide(state, user, &spec)?;
    }
    spec.held = None;
    spec.play = None;
    spec.rejected_by = Some(user.name.clone());
    state
        .storage
        .set_broadcast_spec(id, &BroadcastSpec::Media(spec))?;
    state.storage.stop_broadcast(id, state.clock.now_us())?;
    state.changes.bump();
    tracing::info!(user = %user.name, broadcast = id, "held broadcast turned down");
    Ok(json!({"id": id, "rejected_by": user.name}))
}

/// Records a receipt from `agent`, if broadcast `receipt.broadcast_id` was sent to it and
/// its receipt is not final already; returns whether it was recorded. A speaker reports on
/// what it was told to play, never on its neighbours' broadcasts or on ids it made up.
pub fn record_agent_receipt(
    state: &AppState,
    agent: &AgentId,
    receipt: &ReceiptRecord,
) -> Result<bool, AppError> {
    Ok(record_agent_receipts(state, vec![(agent.clone(), receipt.clone())])? == 1)
}

/// Records agents' receipts in order, in one transaction, each only if its broadcast was
/// sent to that agent and its receipt is not final already (those are counted in
/// `receipts_ignored`); how many were recorded. Long polls and pages are told once.
pub fn record_agent_receipts(
    state: &AppState,
    batch: Vec<(AgentId, ReceiptRecord)>,
) -> Result<usize, AppError> {
    // Each broadcast's audience as a set: a county-wide alert's 10,000 receipts checked
    // against its 10,000 agents one by one were 10^8 comparisons.
    let mut audiences: HashMap<u64, Option<HashSet<String>>> = HashMap::new();
    let mut sent = Vec::with_capacity(batch.len());
    for (agent, receipt) in &batch {
        let audience = match audiences.get(&receipt.broadcast_id) {
            Some(a) => a,
            None => {
                let a = match spec_of(state, receipt.broadcast_id) {
                    Ok(spec) => Some(spec.agents().iter().cloned().collect()),
                    Err(AppError::NotFound(_)) => None,
                    Err(e) => return Err(e),
                };
                audiences.entry(receipt.broadcast_id).or_insert(a)
            }
        };
        if audience
            .as_ref()
            .is_some_and(|a| a.contains(agent.as_str()))
        {
            sent.push((agent, receipt));
        } else {
            ignored(state, agent, receipt);
        }
    }
    let records: Vec<ReceiptRecord> = sent.iter().map(|(_, r)| (*r).clone()).collect();
    let recorded = state.storage.record_receipts(&records)?;
    let mut count = 0;
    for ((agent, receipt), ok) in sent.into_iter().zip(recorded) {
        if !ok {
            ignored(state, agent, receipt);
            continue;
        }
        count += 1;
        match receipt.state {
            ReceiptStatus::Done => state.outcomes.ended(agent.as_str(), None),
            ReceiptStatus::Failed => state.outcomes.ended(
                agent.as_str(),
                Some(format!(
                    "广播 #{} 未能播放：{}",
                    receipt.broadcast_id,
                    receipt.detail.as_deref().unwrap_or("failed")
                )),
            ),
            _ => {}
        }
    }
    if !batch.is_empty() {
        state.receipts_changed.notify_waiters();
        state.changes.bump();
    }
    Ok(count)
}

fn ignored(state: &AppState, agent: &AgentId, receipt: &ReceiptRecord) {
    crate::edge::Edge::count(&state.hub.metrics.receipts_ignored);
    tracing::warn!(agent = %agent, broadcast = receipt.broadcast_id,
        "receipt not recorded: the broadcast was not sent to this agent, or its receipt is final");
}

/// Records the receipts agents send (`state.receipts`), whatever has gathered at once, for
/// as long as the controller runs: while one batch commits, the next gathers.
pub async fn write_receipts(state: AppState) {
    loop {
        state.receipts.queued.notified().await;
        flush_receipts(&state).await;
    }
}

/// Records every receipt queued now (also when the controller stops).
pub async fn flush_receipts(state: &AppState) {
    let batch = state.receipts.take();
    if batch.is_empty() {
        return;
    }
    let writer = state.clone();
    match tokio::task::spawn_blocking(move || record_agent_receipts(&writer, batch)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!("recording receipts: {e}"),
        Err(e) => tracing::warn!("recording receipts: {e}"),
    }
}

/// Query of `GET /api/broadcasts/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Wait (at most this many ms, 60 s at most) until every agent's receipt is final or
    /// `unreachable`, or one changes.
    pub wait_ms: Option<u64>,
    /// Only how many speakers are in each state (`receipt_counts`, `targeted`, `final`),
    /// not each one's receipt: what a page following a county-wide broadcast needs.
    #[serde(default)]
    pub counts: bool,
}

/// The broadcast and one receipt per agent.
pub async fn get(
    state: &AppState,
    user: &AuthUser,
    id: u64,
    q: WaitQuery,
) -> Result<serde_json::Value, AppError> {
    user.require(Action::View)?;
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(q.wait_ms.unwrap_or(0).min(60_000));
    loop {
        // Register interest before reading, so a receipt between the two is not missed.
        let notified = state.receipts_changed.notified();
        // Every speaker's receipt, read and checked: for a county-wide alert that is work
        // over every agent, so off the async runtime (the agents' connections, live frames
        // among them, go on meanwhile).
        let (state_, user_) = (state.clone(), user.clone());
        let (status, all_final) =
            crate::state::off_runtime(move || status(&state_, &user_, id, q.counts)).await??;
        if all_final || tokio::time::Instant::now() >= deadline {
            return Ok(status);
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

/// Broadcast `id` as `user` may see it: how many speakers are in each state, whether
/// every speaker's receipt is final (or `unreachable`), and unless `counts_only` the
/// speakers and each one's receipt.
fn status(
    state: &AppState,
    user: &AuthUser,
    id: u64,
    counts_only: bool,
) -> Result<(serde_json::Value, bool), AppError> {
    let spec = spec_of(state, id)?;
    if !visible(user, spec.agents(), &areas_of(state)?) {
        return Err(AppError::NotFound(format!("broadcast {id}")));
    }
    let receipts = state.storage.receipts(id)?;
    // One pass over the receipts, one over the speakers (looking each speaker up among
    // the receipts was quadratic: ≈ 25 million comparisons for 5,000 speakers, each time
    // a console or a long-poll looked).
    let finished: std::collections::HashSet<&str> = receipts
        .iter()
        .filter(|r| r.state.is_final() || r.state == ReceiptStatus::Unreachable)
        .map(|r| r.agent_id.as_str())
        .collect();
    let all_final = spec.agents().iter().all(|a| finished.contains(a.as_str()));
    let mut body = json!({"id": id, "start_at": spec.start_at(), "targeted": spec.agents().len(),
        "receipt_counts": crate::receipt::counts(&receipts), "final": all_final});
    if !counts_only {
        body["agents"] = json!(spec.agents());
        body["receipts"] = json!(receipts);
    }
    Ok((body, all_final))
}

/// Every agent's area code, by id. Work over every agent: never on the async runtime's
/// threads (checked in debug builds, as [`Target::resolve`] is).
pub(crate) fn areas_of(
    state: &AppState,
) -> Result<std::collections::HashMap<String, String>, AppError> {
    debug_assert!(
        !crate::state::on_runtime_thread(),
        "every agent's area read on an async runtime thread: run it through state::off_runtime"
    );
    Ok(state
        .storage
        .agents()?
        .into_iter()
        .map(|a| (a.id.to_string(), a.area_code.to_string()))
        .collect())
}

/// A scoped user sees a broadcast that reached at least one speaker of theirs.
pub(crate) fn visible(
    user: &AuthUser,
    agents: &[String],
    areas: &std::collections::HashMap<String, String>,
) -> bool {
    user.unscoped()
        || agents
            .iter()
            .any(|a| areas.get(a).is_some_and(|code| user.covers(code)))
}

/// What broadcast `id` is.
fn spec_of(state: &AppState, id: u64) -> Result<BroadcastSpec, AppError> {
    state
        .storage
        .broadcast_spec(id)?
        .ok_or_else(|| AppError::NotFound(format!("broadcast {id}")))
}

/// Stops broadcast `id` on every agent it reached.
pub async fn stop(state: &AppState, user: &AuthUser, id: u64) -> Result<(), AppError> {
    if !(allowed(user.role, Action::Broadcast) || allowed(user.role, Action::Live)) {
        return Err(AppError::Forbidden(
            "a viewer may not stop broadcasts".into(),
        ));
    }
    let spec = spec_of(state, id)?;
    if matches!(spec, BroadcastSpec::Alert(_)) {
        return Err(AppError::Forbidden(
            "an alert is stopped by cancelling it (POST /api/alerts/{id}/cancel), by its issuer or an admin".into(),
        ));
    }
    // Every speaker's area, read and checked on the blocking pool.
    let (state_, user_, agents) = (state.clone(), user.clone(), spec.agents().to_vec());
    crate::state::off_runtime(move || may_stop(&state_, &user_, id, &agents)).await??;
    crate::dispatch::end(state, id, spec.agents()).await?;
    // A scheduled item also leaves the agents' stored schedules.
    state.scheduler.changed.notify_one();
    tracing::info!(user = %user.name, broadcast = id, "broadcast stopped");
    Ok(())
}

/// Whether `user` may stop broadcast `id` to `agents`: they see it, and every speaker it
/// reaches is in their areas.
fn may_stop(state: &AppState, user: &AuthUser, id: u64, agents: &[String]) -> Result<(), AppError> {
    let areas = areas_of(state)?;
    if !visible(user, agents, &areas) {
        return Err(AppError::NotFound(format!("broadcast {id}")));
    }
    if let Some(outside) = agents
        .iter()
        .find(|a| !areas.get(*a).is_some_and(|code| user.covers(code)))
    {
        return Err(AppError::Forbidden(format!(
            "this broadcast also reaches {outside}, outside your areas"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made from ids in any order, with repeats: each once, in order, and each found.
    #[test]
    fn chosen_speakers_are_found_whatever_order_they_came_in() {
        let id = |s: &str| -> AgentId { s.parse().expect("id") };
        let chosen: Chosen = ["c-3", "a-1", "b-2", "a-1"].into_iter().map(id).collect();
        assert_eq!(&*chosen, [id("a-1"), id("b-2"), id("c-3")]);
        assert!(
            ["a-1", "b-2", "c-3"]
                .iter()
                .all(|s| chosen.contains(&id(s)))
        );
        assert!(!chosen.contains(&id("b-1")) && !chosen.contains(&id("d-4")));
    }
}
