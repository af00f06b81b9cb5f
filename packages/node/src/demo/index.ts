export { DemoNetworkError } from '../errors.js'
export { type DemoOptions, type DemoOutput, type DemoReport, runDemo } from './run-demo.js'
export { formatMs, percentile, table } from './stats.js'
