/** "Did you mean ...?" for a mistyped command or option name. */

/**
 * The optimal string alignment distance between two strings: the fewest insertions,
 * deletions, substitutions and swaps of two neighbouring characters that turn `a`
 * into `b` ("lsit" is 1 from "list", where plain Levenshtein counts 2).
 */
function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * The one candidate `given` was most likely meant as, or undefined when none is close
 * enough to be worth saying: at most 1 edit away for names of up to 4 characters, 2
 * for longer ones, or else the only candidate that starts with `given` (3 characters or
 * more). Two candidates equally close give no suggestion.
 *
 * @example
 * nearest("lsit", ["list", "show"]) // "list"
 * nearest("xyz", ["list", "show"])  // undefined
 */
export function nearest(given: string, candidates: readonly string[]): string | undefined {
  const typed = given.toLowerCase();
  if (typed.length === 0 || typed.length > 40) return undefined;
  let best: string | undefined;
  let bestDistance = Infinity;
  let tie = false;
  for (const candidate of candidates) {
    const distance = editDistance(typed, candidate);
    if (distance > (Math.max(typed.length, candidate.length) <= 4 ? 1 : 2)) continue;
    if (distance < bestDistance) [best, bestDistance, tie] = [candidate, distance, false];
    else if (distance === bestDistance) tie = true;
  }
  if (best !== undefined && !tie) return best;
  if (typed.length < 3) return undefined;
  const prefixed = candidates.filter((candidate) => candidate.startsWith(typed));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}
