// Renders a job summary (GitHub-flavoured Markdown) to PNG the way a person sees
// it on the run page: GitHub's Markdown CSS, alerts (> [!WARNING]) as callouts,
// headless Chromium for the screenshot.
// Usage: node scripts/render-summary.mjs SUMMARY.md OUT.png [WIDTH]
// SUMMARY_OFFSET=PX and SUMMARY_HEIGHT=PX take one screen-sized slice (for reading it closely).
// Needs: Debian's chromium, and marked + github-markdown-css, installed outside
// the project on first use (into $RENDER_TOOLS, default /tmp/summary-render).
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {createRequire} from 'node:module'
import {pathToFileURL} from 'node:url'

const [input, output, width = '1012'] = process.argv.slice(2)
if (!input || !output) {
  console.error('usage: node scripts/render-summary.mjs SUMMARY.md OUT.png [WIDTH]')
  process.exit(2)
}
const tools = process.env.RENDER_TOOLS ?? '/tmp/summary-render'
if (!fs.existsSync(path.join(tools, 'node_modules', 'marked'))) {
  fs.mkdirSync(tools, {recursive: true})
  execFileSync('npm', ['install', '--prefix', tools, '--no-audit', '--no-fund', 'marked@^15', 'github-markdown-css'], {stdio: 'inherit'})
}
const require = createRequire(path.join(tools, 'package.json'))
const markedModule = await import(pathToFileURL(require.resolve('marked')).href)
const marked = markedModule.marked ?? markedModule.default.marked
const css = fs.readFileSync(require.resolve('github-markdown-css/github-markdown-light.css'), 'utf8')

const ALERT_COLOURS = {NOTE: '#0969da', TIP: '#1a7f37', IMPORTANT: '#8250df', WARNING: '#9a6700', CAUTION: '#d1242f'}
let markdown = fs.readFileSync(input, 'utf8')
// GitHub renders "> [!KIND]" blockquotes as alerts; marked does not, so mark them up first.
markdown = markdown.replace(/^> \[!(NOTE|TIP|IMPORTANT|WARNING|CAUTION)\]\n((?:>.*\n?)*)/gm, (_, kind, body) => {
  const text = body.replace(/^> ?/gm, '')
  return (
    `<div class="alert" style="border-left:.25em solid ${ALERT_COLOURS[kind]};padding:0 1em;margin-bottom:16px">` +
    `<p style="color:${ALERT_COLOURS[kind]};font-weight:600;margin:8px 0">${kind[0] + kind.slice(1).toLowerCase()}</p>\n\n${text}\n</div>\n`
  )
})
// As a person first sees it: <details> closed; SUMMARY_OPEN_DETAILS=1 opens them to read everything.
const parsed = marked.parse(markdown, {gfm: true})
const html = process.env.SUMMARY_OPEN_DETAILS === '1' ? parsed.replace(/<details>/g, '<details open>') : parsed
const page = `<!doctype html><meta charset="utf-8"><style>${css}
body{margin:0;background:#fff}.markdown-body{box-sizing:border-box;max-width:${width}px;padding:24px 32px;margin-top:-${process.env.SUMMARY_OFFSET ?? 0}px}</style>
<article class="markdown-body">${html}</article>`
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'summary-'))
const file = path.join(dir, 'summary.html')
fs.writeFileSync(file, page)
// Height: generous, then trimmed by Chromium's own page size is not available headless; estimate from length.
const height = Number(process.env.SUMMARY_HEIGHT ?? Math.min(16000, 600 + Math.ceil(markdown.length / 6)))
execFileSync(
  'chromium',
  [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${path.join(dir, 'profile')}`,
    '--hide-scrollbars',
    `--window-size=${width},${height}`,
    `--screenshot=${path.resolve(output)}`,
    `file://${file}`
  ],
  {stdio: 'ignore'}
)
fs.rmSync(dir, {recursive: true, force: true})
console.log(`${output}: ${width}x${height}`)
