/**
 * No Docker engine runs on these machines: a stand-in `docker` for PATH that
 * records its argv, accepts only `docker exec -i CONTAINER argv...` for the
 * containers it knows, and runs argv unchanged (in `workdir`, with `env`);
 * for another container it fails the way docker does.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {pythonBin} from './python.js'

export interface DockerStandIn {
  /** Put this first on PATH. */
  dir: string
  /** The argv of the last call. */
  lastArgv(): string[]
  remove(): void
}

export function dockerStandIn(containers: string[], options: {workdir?: string; env?: Record<string, string>} = {}): DockerStandIn {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'docker-standin-'))
  const log = path.join(dir, 'argv.json')
  fs.writeFileSync(
    path.join(dir, 'docker'),
    `#!${pythonBin()}
import json, os, sys
json.dump(sys.argv[1:], open(${JSON.stringify(log)}, "w"))
if sys.argv[1:3] != ["exec", "-i"] or sys.argv[3] not in ${JSON.stringify(containers)}:
    sys.stderr.write("Error response from daemon: No such container: %s\\n" % sys.argv[3])
    sys.exit(1)
os.environ.update(${JSON.stringify(options.env ?? {})})
${options.workdir ? `os.chdir(${JSON.stringify(options.workdir)})` : ''}
os.execvp(sys.argv[4], sys.argv[4:])
`,
    {mode: 0o755}
  )
  return {
    dir,
    lastArgv: () => JSON.parse(fs.readFileSync(log, 'utf8')) as string[],
    remove: () => fs.rmSync(dir, {recursive: true, force: true})
  }
}
