/** The strategy for the strategy input: one module each, as the executors are. */
import type {StrategyName} from '../config.js'
import {exact} from './exact.js'
import {flagsmith} from './flagsmith.js'
import {perApp} from './per-app.js'
import type {Strategy} from './strategy.js'

const STRATEGIES: Record<StrategyName, Strategy> = {exact, 'per-app': perApp, flagsmith}

export const STRATEGY_NAMES = Object.keys(STRATEGIES) as StrategyName[]

export const strategyFor = (name: StrategyName): Strategy => STRATEGIES[name]
