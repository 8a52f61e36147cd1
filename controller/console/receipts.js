// A broadcast's receipts, as `GET /api/broadcasts/{id}` gives them: shared by the pages
// that follow one (a sent broadcast, an alert, a live call).

// Receipt states after which a speaker's part in a broadcast is over.
export const FINAL = ['done', 'failed', 'cancelled', 'unreachable'];

// Whether every speaker broadcast `b` targets has a final receipt.
export function allFinal(b) {
  const state = new Map(b.receipts.map((r) => [r.agent_id, r.state]));
  return b.agents.every((a) => FINAL.includes(state.get(a)));
}
