// A set that counts how many holders each member has: a member stays until its last holder
// lets it go. The NB view keeps the addresses and MACs in use on a network this way, since two
// rows may hold the same one (a row written by someone else can repeat an address of ours), and
// the first of them to go must not free it while the other still has it.

export class CountedSet<T> implements ReadonlySet<T> {
  private readonly counts = new Map<T, number>();

  /** Members, each once. */
  get size(): number {
    return this.counts.size;
  }

  has(v: T): boolean {
    return this.counts.has(v);
  }

  /** How many holders `v` has (0 when it is not a member). */
  count(v: T): number {
    return this.counts.get(v) ?? 0;
  }

  /** One more holder of `v`. */
  add(v: T): this {
    this.counts.set(v, (this.counts.get(v) ?? 0) + 1);
    return this;
  }

  /** One holder of `v` fewer; true when that was its last (it is no longer a member). */
  delete(v: T): boolean {
    const n = this.counts.get(v);
    if (n === undefined) return false;
    if (n > 1) {
      this.counts.set(v, n - 1);
      return false;
    }
    this.counts.delete(v);
    return true;
  }

  forEach(f: (value: T, key: T, set: ReadonlySet<T>) => void, thisArg?: unknown): void {
    for (const v of this.counts.keys()) f.call(thisArg, v, v, this);
  }

  keys(): SetIterator<T> {
    return this.counts.keys();
  }

  values(): SetIterator<T> {
    return this.counts.keys();
  }

  *entries(): SetIterator<[T, T]> {
    for (const v of this.counts.keys()) yield [v, v];
  }

  [Symbol.iterator](): SetIterator<T> {
    return this.counts.keys();
  }
}
