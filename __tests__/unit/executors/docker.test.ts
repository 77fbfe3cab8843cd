import {DockerExecutor} from '../../../src/executors/docker.js'
import {dockerStandIn} from '../../support/docker-standin.js'
import {pythonBin} from '../../support/python.js'

// No Docker engine runs on these machines: see support/docker-standin.ts.
describe('DockerExecutor', () => {
  const standIn = dockerStandIn(['api'])
  const savedPath = process.env.PATH
  beforeAll(() => {
    process.env.PATH = `${standIn.dir}:${savedPath}`
  })
  afterAll(() => {
    process.env.PATH = savedPath
    standIn.remove()
  })

  it('calls docker exec -i CONTAINER with argv as separate words, stdin passed', async () => {
    const executor = new DockerExecutor('api')
    expect(executor.where).toBe('docker exec -i api')
    const result = await executor.exec([pythonBin(), '-c', 'import sys; print(sys.argv[1:], sys.stdin.read())', "it's; $(x)"], {
      input: 'hello'
    })
    expect(result).toEqual({exitCode: 0, stdout: `["it's; $(x)"] hello\n`, stderr: ''})
    expect(standIn.lastArgv()).toEqual([
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
