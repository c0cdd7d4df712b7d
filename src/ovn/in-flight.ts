// What this process's own NB writes, sent but not yet in its view, will make guarded rows
// hold. The compare-and-swap guards (neutron-writes.ts) compare a row's external_ids with what
// the writer saw; a write decided while an earlier one is still in flight expects what the
// earlier one writes, so both can be on the wire at once and ovsdb-server applies them in
// order. If the earlier one fails, the later one's guard fails too and it is decided again:
// this only lets writes overlap, the guards still decide. Nothing here outlives the process.

/** One write's claim on the rows it will change; settle it when the view shows the write (or it failed). */
export type InFlightWrite = symbol;

export class InFlightWrites {
  private readonly next = new Map<string, { ids: Record<string, string>; by: InFlightWrite }>();

  begin(what = "write"): InFlightWrite {
    return Symbol(what);
  }

  /** The external_ids row `uuid` will hold once the writes in flight commit, else `seen` (the view's). */
  expected(uuid: string, seen: Record<string, string>): Record<string, string> {
    return this.next.get(uuid)?.ids ?? seen;
  }

  /** `by` will leave row `uuid` with external_ids `ids`. */
  record(uuid: string, ids: Record<string, string>, by: InFlightWrite): void {
    this.next.set(uuid, { ids, by });
  }

  /** The write is in the view, or failed: its expectations go (unless a later write replaced them). */
  settle(by: InFlightWrite): void {
    for (const [uuid, e] of this.next) if (e.by === by) this.next.delete(uuid);
  }

  /**
   * Forgets every expectation: for when a write's outcome is unknown (the connection dropped
   * before NB answered, or NB answered but the view never showed it). Writes decided after
   * this guard on the view alone, so a write that did commit unseen makes them stale rather
   * than letting them chain past it without its reservations.
   */
  clear(): void {
    this.next.clear();
  }

  /** Rows with a write in flight (for tests and metrics). */
  get size(): number {
    return this.next.size;
  }
}
