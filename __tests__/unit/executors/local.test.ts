import {LocalExecutor} from '../../../src/executors/local.js'
import {pythonBin} from '../../support/python.js'

describe('LocalExecutor', () => {
  it('runs argv without a shell, passes stdin, and returns the exit code', async () => {
    const executor = new LocalExecutor()
    const result = await executor.exec(
      [pythonBin(), '-c', 'import json,sys; print(json.dumps(sys.argv[1:])); print(sys.stdin.read()); sys.exit(3)', '$(id)', 'a b;c'],
      {input: 'from stdin'}
    )
    expect(result.exitCode).toBe(3)
    expect(result.stdout).toBe('["$(id)", "a b;c"]\nfrom stdin\n')
  })

  it('streams stdout lines as they arrive, before the command ends', async () => {
    const seen: {line: string; at: number}[] = []
    const started = Date.now()
    const result = await new LocalExecutor().exec(
      [pythonBin(), '-u', '-c', 'import time; print("first"); time.sleep(1); print("second")'],
      {onStdoutLine: line => seen.push({line, at: Date.now() - started})}
    )
    const ended = Date.now() - started
    expect(seen.map(s => s.line)).toEqual(['first', 'second'])
    expect(ended - seen[0].at).toBeGreaterThan(700)
    expect(result.stdout).toBe('first\nsecond\n')
  })

  it('does not hand the action inputs (secrets) to the command', async () => {
    process.env['INPUT_DATABASE-URL'] = 'postgres://u:do-not-pass@h/db'
    try {
      const result = await new LocalExecutor().exec([pythonBin(), '-c', 'import os; print(sorted(os.environ))'])
      expect(result.stdout).not.toContain('INPUT_DATABASE-URL')
    } finally {
      delete process.env['INPUT_DATABASE-URL']
    }
  })
})
