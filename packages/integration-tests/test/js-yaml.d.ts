// js-yaml 4 ships no types; the one function deploy.test.ts uses.
declare module 'js-yaml' {
  export function load(text: string): unknown
}
