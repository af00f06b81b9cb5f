export { DemoNetworkError } from '../errors.js'
export { type Progress, type ProgressOutput, progressOn } from './progress.js'
export { type DemoOptions, type DemoOutput, type DemoReport, runDemo } from './run-demo.js'
export { formatMs, percentile, table } from './stats.js'
