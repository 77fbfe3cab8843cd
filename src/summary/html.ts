/** Markdown and HTML pieces every summary section uses; text from the database or a remote is always escaped. */

/** HTML-escapes, and entity-encodes the characters Markdown would act on around inline HTML (not `_`: names are full of it, and GFM ignores it inside words). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'|`*[\]\\]/g, c => `&#${c.charCodeAt(0)};`)
}

export const code = (text: string): string => `<code>${escapeHtml(text)}</code>`
// A blank line would end the HTML block and let Markdown loose on the rest of the text.
export const pre = (lines: string[]): string => `<pre>${escapeHtml(lines.join('\n').replace(/\n\s*\n/g, '\n'))}</pre>`
export const shortTime = (utc: string): string => utc.replace('T', ' ').replace(/(\.\d+)?Z$/, '')
export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`

/** Lists longer than this are folded into <details>. */
export const COLLAPSE_AFTER = 10

/** A two-column table of facts: the header cells are trusted text, the values already escaped. */
export function factTable(rows: [string, string][]): string {
  return `<table>${rows.map(([k, v]) => `<tr><th align="left">${k}</th><td>${v}</td></tr>`).join('')}</table>`
}
