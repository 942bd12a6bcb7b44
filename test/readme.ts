import { readFileSync } from 'node:fs'

export const README = new URL('../README.md', import.meta.url)

/**
 * The fenced code block that follows the HTML comment `<!-- MARKER: … -->` in README.md (or in
 * another Markdown file of the repository, e.g. `docs/authenticator-apps.md`), without its
 * fences. Throws when the marker or the block is missing, so a renamed marker fails the test
 * instead of testing nothing.
 */
export function readmeBlock (marker: string, file: URL = README): string {
  const text = readFileSync(file, 'utf8')
  const name = file.pathname.split('/').slice(-2).join('/')
  const at = text.indexOf(`<!-- ${marker}:`)
  if (at < 0) throw new Error(`${name} has no <!-- ${marker}: … --> marker`)
  const block = /\n```[a-z]*\n([\s\S]*?)\n```\n/.exec(text.slice(at))
  if (block === null) throw new Error(`${name} has no code block after the ${marker} marker`)
  return block[1]
}
