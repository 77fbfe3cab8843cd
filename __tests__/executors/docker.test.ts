import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {DockerExecutor} from '../../src/executors/docker.js'
import {pythonBin} from '../support/python.js'

// No Docker engine runs on these machines: a stand-in `docker` first on PATH
// records its argv, then runs what follows `exec -i CONTAINER` unchanged.
describe('DockerExecutor', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'docker-standin-'))
  const log = path.join(dir, 'argv.json')
  const savedPath = process.env.PATH
  beforeAll(() => {
    fs.writeFileSync(
      path.join(dir, 'docker'),
      `#!${pythonBin()}
import json, os, sys
json.dump(sys.argv[1:], open(${JSON.stringify(log)}, "w"))
if sys.argv[1:4] != ["exec", "-i", "api"]:
    sys.stderr.write("Error response from daemon: No such container: %s\\n" % sys.argv[3])
    sys.exit(1)
os.execvp(sys.argv[4], sys.argv[4:])
`,
      {mode: 0o755}
    )
    process.env.PATH = `${dir}:${savedPath}`
  })
  afterAll(() => {
    process.env.PATH = savedPath
    fs.rmSync(dir, {recursive: true, force: true})
  })

  it('calls docker exec -i CONTAINER with argv as separate words, stdin passed', async () => {
    const executor = new DockerExecutor('api')
    expect(executor.where).toBe('docker exec -i api')
    const result = await executor.exec([pythonBin(), '-c', 'import sys; print(sys.argv[1:], sys.stdin.read())', "it's; $(x)"], {
      input: 'hello'
    })
    expect(result).toEqual({exitCode: 0, stdout: `["it's; $(x)"] hello\n`, stderr: ''})
    expect(JSON.parse(fs.readFileSync(log, 'utf8'))).toEqual([
      'exec',
      '-i',
      'api',
      pythonBin(),
      '-c',
      'import sys; print(sys.argv[1:], sys.stdin.read())',
      "it's; $(x)"
    ])
  })

  it("passes docker's own error on, with the fix", async () => {
    await expect(new DockerExecutor('gone').exec(['true'])).rejects.toThrow(
      'docker exec into gone failed: No such container: gone. Set container to the name or ID of the running application container'
    )
  })
})
