// @bcoe/v8-coverage ships no type declarations; these cover what the exporters use.
declare module '@bcoe/v8-coverage' {
  export interface RangeCov { startOffset: number; endOffset: number; count: number }
  export interface FunctionCov { functionName: string; ranges: RangeCov[]; isBlockCoverage: boolean }
  export interface ScriptCov { scriptId: string; url: string; functions: FunctionCov[] }
  export interface ProcessCov { result: ScriptCov[] }
  export function mergeProcessCovs(processCovs: ReadonlyArray<ProcessCov>): ProcessCov;
  export function mergeScriptCovs(scriptCovs: ReadonlyArray<ScriptCov>): ScriptCov | undefined;
  export function mergeFunctionCovs(funcCovs: ReadonlyArray<FunctionCov>): FunctionCov | undefined;
}
