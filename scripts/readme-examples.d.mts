/** A fenced code block of a README that imports something. */
export interface ReadmeExample {
  lang: string
  code: string
  /** Line of the README where the code starts. */
  line: number
}

/** The runnable examples of a README: fenced `ts`/`js` blocks that import something. */
export function readmeExamples(readme: string, options?: { langs?: string[] }): Promise<ReadmeExample[]>

/** Applies `[from, to]` replacements in order; throws when a `from` no longer occurs. */
export function adapt(code: string, replacements: ReadonlyArray<readonly [string | RegExp, string]>): string

/** Writes `code` as a module in `dir`, imports it (running it), removes the file; resolves with the module. */
export function runExample(
  code: string,
  options: { dir: string; name: string; lang?: string },
): Promise<Record<string, unknown>>
