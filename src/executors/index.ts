import type {Config} from '../config.js'
import {DockerExecutor} from './docker.js'
import type {Executor} from './executor.js'
import {createKubectlExecutor} from './kubectl.js'
import {LocalExecutor} from './local.js'
import {createSshExecutor} from './ssh.js'

export async function createExecutor(config: Config): Promise<Executor> {
  switch (config.executor) {
    case 'local':
      return new LocalExecutor()
    case 'docker':
      return new DockerExecutor(config.container as string)
    case 'ssh':
      return createSshExecutor(config.ssh as NonNullable<Config['ssh']>, config.manageCommand)
    case 'kubectl':
      return createKubectlExecutor(config.kubectl as NonNullable<Config['kubectl']>, config.manageCommand)
  }
}
