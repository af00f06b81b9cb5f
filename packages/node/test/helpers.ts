/** Test helpers: the shared daemon harness of `src/testing.ts`, for this package's tests. */
export * from '../src/testing.js'
