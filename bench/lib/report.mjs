// A case's result and the report: the console tables, the Markdown tables and the JSON.
import * as fs from "node:fs";

export function formatNs(ns) {
  if (ns === undefined || Number.isNaN(ns)) return "-";
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e4) return `${(ns / 1e3).toFixed(2)} µs`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(1)} µs`;
  if (ns < 1e7) return `${(ns / 1e6).toFixed(2)} ms`;
  return `${(ns / 1e6).toFixed(1)} ms`;
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

export function formatRatio(r) {
  if (r === undefined || !Number.isFinite(r)) return "-";
  if (r >= 100) return `${r.toFixed(0)}x`;
  if (r >= 10) return `${r.toFixed(1)}x`;
  return `${r.toFixed(2)}x`;
}

/**
 * One case: rows (subject, median, p99, ops, and "÷ store", this store's median over
 * the row's), notes, and targets checked against the numbers of this run.
 */
export class CaseResult {
  constructor(id, title) {
    this.id = id;
    this.title = title;
    this.rows = [];
    this.targets = [];
    this.notes = [];
    this.extra = {};
  }

  row(subject, stats, { ref, unit = "time", ...more } = {}) {
    this.rows.push({ subject, ...stats, ref, unit, ...more });
    return this;
  }

  target(text, pass, detail) {
    this.targets.push({ text, pass, detail });
    return this;
  }

  note(text) {
    this.notes.push(text);
    return this;
  }
}

/** The median of the row named by `row.ref` over this row's median. */
function ratioAgainst(rows, row) {
  if (!row.ref) return undefined;
  const ref = rows.find((r) => r.subject === row.ref);
  if (!ref?.medianNs || !row.medianNs) return undefined;
  return ref.medianNs / row.medianNs;
}

export function printCase(result) {
  const lines = [];
  lines.push("", `== ${result.title}`);
  const table = [["subject", "median", "p99", "ops", "ours ÷ this"]];
  for (const row of result.rows) {
    if (row.unit === "rate") {
      table.push([
        row.subject,
        `${row.rate.toFixed(0)} ops/s`,
        `p99 ${formatNs(row.p99Ns)}`,
        String(row.ops),
        row.ref ? formatRatio(ratioAgainst(result.rows, row)) : "-",
      ]);
    } else {
      table.push([row.subject, formatNs(row.medianNs), formatNs(row.p99Ns), String(row.ops), row.ref ? formatRatio(ratioAgainst(result.rows, row)) : "-"]);
    }
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  for (const [i, r] of (table.length > 1 ? table : []).entries()) {
    lines.push(`  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ")}`);
    if (i === 0) lines.push(`  ${widths.map((w) => "-".repeat(w)).join("  ")}`);
  }
  for (const note of result.notes) lines.push(`  note: ${note}`);
  for (const t of result.targets) lines.push(`  [${t.pass ? "PASS" : "FAIL"}] ${t.text}: ${t.detail}`);
  console.log(lines.join("\n"));
}

function markdownCase(result) {
  const lines = [`### ${result.title}`, ""];
  if (result.rows.length > 0) lines.push("| subject | median | p99 | ops | ours ÷ this |", "|---|--:|--:|--:|--:|");
  for (const row of result.rows) {
    const ratio = row.ref ? formatRatio(ratioAgainst(result.rows, row)) : "";
    if (row.unit === "rate")
      lines.push(`| ${row.subject} | ${row.rate.toFixed(0)} ops/s (save median ${formatNs(row.medianNs)}) | ${formatNs(row.p99Ns)} | ${row.ops} | ${ratio} |`);
    else lines.push(`| ${row.subject} | ${formatNs(row.medianNs)} | ${formatNs(row.p99Ns)} | ${row.ops} | ${ratio} |`);
  }
  lines.push("");
  for (const note of result.notes) lines.push(`- ${note}`);
  for (const t of result.targets) lines.push(`- **${t.pass ? "PASS" : "FAIL"}** ${t.text}: ${t.detail}`);
  lines.push("");
  return lines.join("\n");
}

/** The whole run as JSON: the command, when, how long, the machine and every case. */
export function writeJson(path, { command, started, seconds, machine, results }) {
  const out = { command, date: new Date(started).toISOString(), seconds, machine, cases: results };
  fs.writeFileSync(path, `${JSON.stringify(out, null, 2)}\n`);
}

/** The whole run as Markdown: one line on how and where it was measured, then the cases. */
export function writeMarkdown(path, { command, started, seconds, machine: info, results }) {
  const header = [
    `Measured ${new Date(started).toISOString().slice(0, 16).replace("T", " ")} UTC with \`${command}\` (${seconds.toFixed(0)} s).`,
    "",
    `Machine: ${info.cpu}, ${info.cores} cores, ${info.memory} RAM, ${info.os}; Node ${info.node}; temp dir on ${info.fileSystem}; ` +
      `better-sqlite3 ${info.versions["better-sqlite3"]} (SQLite ${info.versions.sqlite}), @zohocrm/nodejs-sdk-8.0 ${info.versions["@zohocrm/nodejs-sdk-8.0"]}; ` +
      `load average ${info.loadAverageAtStart} at start, ${info.loadAverageAtEnd} at end.`,
    "",
  ];
  fs.writeFileSync(path, header.concat(results.map(markdownCase)).join("\n"));
}
