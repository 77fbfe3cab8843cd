/** The executor for the executor input: one module each, behind the Executor interface. */
import type {Config} from '../config.js'
import {DockerExecutor} from './docker.js'
import type {Executor, ExecutorOptions} from './executor.js'
import {createKubectlExecutor} from './kubectl.js'
import {LocalExecutor} from './local.js'
import {createSshExecutor} from './ssh.js'

/** Every command of the executor gets config.commandTimeoutSeconds (command-timeout) unless it asks otherwise. */
export async function createExecutor(config: Config, options: Omit<ExecutorOptions, 'commandTimeoutSeconds'> = {}): Promise<Executor> {
  const opts: ExecutorOptions = {...options, commandTimeoutSeconds: config.commandTimeoutSeconds}
  const executor = config.executor
  switch (executor.kind) {
    case 'local':
      return new LocalExecutor(opts.commandTimeoutSeconds)
    case 'docker':
      return new DockerExecutor(executor.container, opts.commandTimeoutSeconds)
    case 'ssh':
      return createSshExecutor(executor, config.manageCommand, opts)
    case 'kubectl':
      return createKubectlExecutor(executor, config.manageCommand, opts)
  }
}
