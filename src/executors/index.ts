import type {Config} from '../config.js'
import {DockerExecutor} from './docker.js'
import type {Executor, ExecutorOptions} from './executor.js'
import {createKubectlExecutor} from './kubectl.js'
import {LocalExecutor} from './local.js'
import {createSshExecutor} from './ssh.js'

/** Every command of the executor gets config.commandTimeoutSeconds (command-timeout) unless it asks otherwise. */
export async function createExecutor(config: Config, options: Omit<ExecutorOptions, 'commandTimeoutSeconds'> = {}): Promise<Executor> {
  const opts: ExecutorOptions = {...options, commandTimeoutSeconds: config.commandTimeoutSeconds}
  switch (config.executor) {
    case 'local':
      return new LocalExecutor(opts.commandTimeoutSeconds)
    case 'docker':
      return new DockerExecutor(config.container as string, opts.commandTimeoutSeconds)
    case 'ssh':
      return createSshExecutor(config.ssh as NonNullable<Config['ssh']>, config.manageCommand, opts)
    case 'kubectl':
      return createKubectlExecutor(config.kubectl as NonNullable<Config['kubectl']>, config.manageCommand, opts)
  }
}
