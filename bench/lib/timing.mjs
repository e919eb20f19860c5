// Timing and statistics. Every operation is timed on its own (process.hrtime.bigint);
// subjects are interleaved in rounds so that a burst of load from elsewhere hits all
// of them; a case reports the median and the 99th percentile.

export function isThenable(value) {
  return value !== null && typeof value === "object" && typeof value.then === "function";
}

/**
 * Times every operation of every subject, interleaving the subjects in rounds (the
 * order rotates each round). A subject: { name, run(i), ops (per round), prepare?(n) }.
 * `prepare` runs untimed before a subject's turn in a round (to build inputs).
 * Returns a Map from each subject's name to the {@link summarize} of its timings.
 */
export async function timeInterleaved(subjects, { rounds, warmup = 0 }) {
  const counters = new Map(subjects.map((s) => [s, 0]));
  const samples = new Map(subjects.map((s) => [s, []]));
  const runOne = async (subject, record) => {
    const n = counters.get(subject);
    counters.set(subject, n + 1);
    const start = process.hrtime.bigint();
    const result = subject.run(n);
    if (isThenable(result)) await result;
    const elapsed = Number(process.hrtime.bigint() - start);
    if (record) samples.get(subject).push(elapsed);
  };
  for (const subject of subjects) {
    const count = Math.min(warmup, subject.ops * 2);
    if (subject.prepare) await subject.prepare(count);
    for (let i = 0; i < count; i++) await runOne(subject, false);
  }
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < subjects.length; k++) {
      const subject = subjects[(k + round) % subjects.length];
      if (subject.prepare) await subject.prepare(subject.ops);
      for (let i = 0; i < subject.ops; i++) await runOne(subject, true);
    }
  }
  return new Map(subjects.map((s) => [s.name, summarize(samples.get(s))]));
}

/** Count, median, 99th percentile (nearest rank), mean and maximum of timings in ns. */
export function summarize(values) {
  const sorted = Float64Array.from(values).sort();
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  let sum = 0;
  for (const v of sorted) sum += v;
  return { ops: sorted.length, medianNs: at(0.5), p99Ns: at(0.99), meanNs: sum / sorted.length, maxNs: sorted[sorted.length - 1] };
}
