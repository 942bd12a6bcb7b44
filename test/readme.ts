import { readFileSync } from 'node:fs'

export const README = new URL('../README.md', import.meta.url)

/**
 * The fenced code block that follows the HTML comment `<!-- MARKER: … -->` in README.md,
 * without its fences. Throws when the marker or the block is missing, so a renamed marker
 * fails the test instead of testing nothing.
 */
export function readmeBlock (marker: string): string {
  const text = readFileSync(README, 'utf8')
  const at = text.indexOf(`<!-- ${marker}:`)
  if (at < 0) throw new Error(`README.md has no <!-- ${marker}: … --> marker`)
  const block = /\n```[a-z]*\n([\s\S]*?)\n```\n/.exec(text.slice(at))
  if (block === null) throw new Error(`README.md has no code block after the ${marker} marker`)
  return block[1]
}
