// The Gemma checkpoints Google publishes on the HF hub. Every google/gemma* and google/codegemma*
// repo is gated: the files are served only to a logged-in user who has accepted the Gemma terms
// on the model's page (model info stays public). Sizes are the names Google gives them.

export type GemmaFamily = 'gemma' | 'gemma-1.1' | 'codegemma' | 'codegemma-1.1' | 'gemma2' | 'gemma3';

export interface CatalogEntry {
  id: string;
  family: GemmaFamily;
  /** The nominal size in the name: '2b', '270m', ... */
  size: string;
  /** Instruction-tuned (chat) rather than pretrained. */
  instruct: boolean;
  gated: boolean;
  /** config.json's model_type; 'gemma3' repos hold a vision tower too, of which the runtime uses the text part. */
  modelType: 'gemma' | 'gemma2' | 'gemma3_text' | 'gemma3';
  contextLength: number;
}

function entries(family: GemmaFamily, modelType: CatalogEntry['modelType'], contextLength: number,
  list: Array<[id: string, size: string, instruct: boolean]>): CatalogEntry[] {
  return list.map(([id, size, instruct]) => ({ id: `google/${id}`, family, size, instruct, gated: true, modelType, contextLength }));
}

export const catalog: readonly CatalogEntry[] = Object.freeze([
  ...entries('gemma', 'gemma', 8192, [
    ['gemma-2b', '2b', false], ['gemma-2b-it', '2b', true], ['gemma-7b', '7b', false], ['gemma-7b-it', '7b', true],
  ]),
  ...entries('gemma-1.1', 'gemma', 8192, [['gemma-1.1-2b-it', '2b', true], ['gemma-1.1-7b-it', '7b', true]]),
  ...entries('codegemma', 'gemma', 8192, [
    ['codegemma-2b', '2b', false], ['codegemma-7b', '7b', false], ['codegemma-7b-it', '7b', true],
  ]),
  ...entries('codegemma-1.1', 'gemma', 8192, [['codegemma-1.1-2b', '2b', false], ['codegemma-1.1-7b-it', '7b', true]]),
  ...entries('gemma2', 'gemma2', 8192, [
    ['gemma-2-2b', '2b', false], ['gemma-2-2b-it', '2b', true], ['gemma-2-9b', '9b', false], ['gemma-2-9b-it', '9b', true],
    ['gemma-2-27b', '27b', false], ['gemma-2-27b-it', '27b', true],
  ]),
  // Gemma 3's pretrained repos end in -pt, except the 270m one.
  ...entries('gemma3', 'gemma3_text', 32768, [
    ['gemma-3-270m', '270m', false], ['gemma-3-270m-it', '270m', true], ['gemma-3-1b-pt', '1b', false], ['gemma-3-1b-it', '1b', true],
  ]),
  ...entries('gemma3', 'gemma3', 131072, [
    ['gemma-3-4b-pt', '4b', false], ['gemma-3-4b-it', '4b', true], ['gemma-3-12b-pt', '12b', false], ['gemma-3-12b-it', '12b', true],
    ['gemma-3-27b-pt', '27b', false], ['gemma-3-27b-it', '27b', true],
  ]),
].map((e) => Object.freeze(e)));

export function catalogEntry(id: string): CatalogEntry | undefined {
  return catalog.find((e) => e.id.toLowerCase() === id.toLowerCase());
}
