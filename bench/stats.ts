/** Small helpers shared by the benchmarks (not a bench file itself: jest only runs *.bench.ts). */

/** BENCH_REPEAT (default 3): how many times each figure is measured; min and median are printed. */
export const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3))

export interface Stats {
  min: number
  median: number
  max: number
  n: number
}

export function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  return {min: sorted[0], median, max: sorted[sorted.length - 1], n: sorted.length}
}

/** "min / median" with a unit; ms below 10 s. */
export function fmt(s: Stats, unit: 'ms' | 's' = 'ms', digits = unit === 'ms' ? 1 : 2): string {
  return `${s.min.toFixed(digits)} / ${s.median.toFixed(digits)} ${unit}`
}

/** A plain text table: first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => (r[i] ?? '').length)))
  const line = (r: string[]): string =>
    r
      .map((c, i) => (c ?? '').padEnd(widths[i]))
      .join('  ')
      .trimEnd()
  return [line(rows[0]), widths.map(w => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n')
}

export const now = (): number => Number(process.hrtime.bigint()) / 1e6

/**
 * Prints a titled table. console.log, which jest buffers and prints with the file's result: a bare
 * process.stdout.write from the last file of a run was seen to go missing.
 */
export function print(title: string, body: string): void {
  console.log(`\n=== ${title} ===\n${body}\n`)
}
