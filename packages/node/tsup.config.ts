import { defineConfig } from 'tsup'

export default defineConfig({
  // src/bin.ts starts with a `#!/usr/bin/env node` line, which esbuild keeps on that
  // entry only (and tsup makes the file executable)
  entry: ['src/index.ts', 'src/bin.ts', 'src/testing.ts'],
  format: ['esm'],
  dts: { entry: ['src/index.ts', 'src/testing.ts'] },
  sourcemap: true,
  clean: true,
  target: 'node22',
  tsconfig: 'tsconfig.build.json',
})
