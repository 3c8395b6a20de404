/**
 * A progress line for long work: count, rate, ETA and a caller-supplied status (loss), redrawn
 * in place on a terminal and printed every few seconds otherwise (CI logs, notebooks).
 *
 * @module
 */

/** Something that can be told how far work has got. */
export interface Progress {
  advance(n?: number, status?: string): void;
  done(status?: string): void;
}

/** Options for {@link progressBar}. */
export interface ProgressOptions {
  /** Where to write; default stderr. */
  write?: (s: string) => void;
  /** Whether to redraw in place (default: stderr is a terminal). */
  tty?: boolean;
  /** Seconds between lines when not redrawing in place. Default 10. */
  every?: number;
  /** Unit name for the rate (`steps`, `sentences`). */
  unit?: string;
  /** Clock, for tests. */
  now?: () => number;
}

function fmtTime(s: number): string {
  if (!isFinite(s)) return "?";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(sec).padStart(2, "0")}s`;
}

/** A progress bar for `total` units of work labelled `label`. */
export function progressBar(label: string, total: number, opts: ProgressOptions = {}): Progress {
  const enc = new TextEncoder();
  const write = opts.write ?? ((s: string) => Deno.stderr.writeSync(enc.encode(s)));
  let tty = opts.tty;
  if (tty === undefined) {
    try {
      tty = Deno.stderr.isTerminal();
    } catch {
      tty = false;
    }
  }
  const now = opts.now ?? (() => performance.now() / 1000);
  const unit = opts.unit ?? "it";
  const every = opts.every ?? 10;
  const start = now();
  let count = 0, lastPrint = -Infinity, lastStatus = "", printedAt = -1;
  const line = () => {
    const el = now() - start;
    const rate = count / Math.max(el, 1e-9);
    const eta = rate > 0 ? (total - count) / rate : Infinity;
    const pct = total > 0 ? Math.floor((100 * count) / total) : 100;
    const width = 20, filled = Math.round((width * pct) / 100);
    const bar = "#".repeat(filled) + "-".repeat(width - filled);
    return `${label} [${bar}] ${count}/${total} ${pct}% ${rate.toFixed(2)} ${unit}/s ` +
      `elapsed ${fmtTime(el)} eta ${fmtTime(eta)}${lastStatus ? " " + lastStatus : ""}`;
  };
  return {
    advance(n = 1, status) {
      count += n;
      if (status !== undefined) lastStatus = status;
      const t = now();
      if (tty) write(`\r${line()}\x1b[K`);
      else if (t - lastPrint >= every || count >= total) {
        lastPrint = t;
        printedAt = count;
        write(line() + "\n");
      }
    },
    done(status) {
      if (status !== undefined) lastStatus = status;
      if (tty) write(`\r${line()}\x1b[K\n`);
      else if (printedAt !== count || status !== undefined) write(line() + "\n"); // no repeat of the last line
    },
  };
}

/** A progress that reports nothing (for tests and quiet runs). */
export const silentProgress: Progress = { advance() {}, done() {} };
