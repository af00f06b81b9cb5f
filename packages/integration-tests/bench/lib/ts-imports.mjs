// Lets a bench script import the TypeScript sources of src/ (Node 24 strips their types):
// their relative imports are written the TypeScript way, `./errors.js` for errors.ts, which
// Node alone does not map. This resolve hook does, for a `.ts` importer only, and only
// when the `.js` file does not exist. Import this module first, then the `.ts` module
// dynamically (static imports are resolved before any module runs).
import { registerHooks } from 'node:module'

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context)
    } catch (err) {
      if (
        err?.code === 'ERR_MODULE_NOT_FOUND' &&
        context.parentURL?.endsWith('.ts') &&
        /^\.\.?\//.test(specifier) &&
        specifier.endsWith('.js')
      ) {
        return nextResolve(`${specifier.slice(0, -3)}.ts`, context)
      }
      throw err
    }
  },
})
