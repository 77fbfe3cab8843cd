#!/usr/bin/env node
/**
 * Renders README.md's inputs and outputs reference from action.yml, between
 * <!-- reference:start --> and <!-- reference:end -->.
 *
 *   node scripts/readme-reference.mjs          rewrite README.md (npm run readme)
 *   node scripts/readme-reference.mjs --check  exit 1 when README.md is stale (CI)
 */
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {parse} from 'yaml'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const START = '<!-- reference:start -->'
const END = '<!-- reference:end -->'

/** One table cell: a single line, pipes escaped. */
function cell(text) {
  return String(text).replace(/\s+/g, ' ').trim().replace(/\|/g, '\\|')
}

function code(text) {
  const value = cell(text)
  return value.includes('`') ? `\`\` ${value} \`\`` : `\`${value}\``
}

function renderReference(action) {
  const inputs = Object.entries(action.inputs ?? {})
  const outputs = Object.entries(action.outputs ?? {})
  const lines = [
    START,
    '<!-- Generated from action.yml by `npm run readme`; edit action.yml, not this table. -->',
    '',
    '### Inputs',
    '',
    '| Input | Required | Default | Description |',
    '|---|---|---|---|'
  ]
  for (const [name, input] of inputs) {
    const fallback = input.default === undefined || input.default === '' ? '' : code(input.default)
    lines.push(`| \`${name}\` | ${input.required ? 'yes' : 'no'} | ${fallback} | ${cell(input.description ?? '')} |`)
  }
  lines.push('', '### Outputs', '', '| Output | Description |', '|---|---|')
  for (const [name, output] of outputs) {
    lines.push(`| \`${name}\` | ${cell(output.description ?? '')} |`)
  }
  lines.push(END)
  return lines.join('\n')
}

/** README with the block between the markers replaced; throws when the markers are missing or out of order. */
function updateReadme(readme, reference) {
  const start = readme.indexOf(START)
  const end = readme.indexOf(END)
  if (start === -1 || end === -1 || end < start) {
    throw new Error(`README.md needs the markers ${START} and ${END}, in that order, where the reference goes`)
  }
  return readme.slice(0, start) + reference + readme.slice(end + END.length)
}

/** The lines only README has (-) and only the generated reference has (+), for the CI log. */
function blockDiff(current, expected) {
  const block = text => {
    const start = text.indexOf(START)
    const end = text.indexOf(END)
    return start === -1 || end === -1 ? [] : text.slice(start, end + END.length).split('\n')
  }
  const have = block(current)
  const want = block(expected)
  const removed = have.filter(line => !want.includes(line)).map(line => `- ${line}`)
  const added = want.filter(line => !have.includes(line)).map(line => `+ ${line}`)
  return [...removed, ...added].slice(0, 60).join('\n')
}

function main() {
  const check = process.argv.includes('--check')
  const actionFile = path.join(root, 'action.yml')
  const readmeFile = path.join(root, 'README.md')
  const action = parse(fs.readFileSync(actionFile, 'utf8'))
  const readme = fs.readFileSync(readmeFile, 'utf8')
  const updated = updateReadme(readme, renderReference(action))
  if (updated === readme) {
    if (check) console.log('README.md inputs/outputs reference matches action.yml')
    return
  }
  if (check) {
    console.error('README.md inputs/outputs reference differs from action.yml (- README, + generated):')
    console.error(blockDiff(readme, updated))
    console.error('Run `npm run readme` and commit README.md.')
    process.exit(1)
  }
  fs.writeFileSync(readmeFile, updated)
  console.log('README.md: inputs/outputs reference rewritten from action.yml')
}

try {
  main()
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error))
  process.exit(1)
}
