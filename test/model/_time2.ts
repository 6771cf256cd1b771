import * as ql from "../../src/dsl/index.js";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import { perplexity } from "../../src/model/runtime/eval.js";
import { baseLogProbs, klDivergenceSaved, klDivergenceRuntimes } from "../../src/model/runtime/kld.js";
const model = await ql.loadModel(ql.courseModelPath());
const ids = model.tokenizer!.encode(ql.courseText(model, 0, 60000)).slice(0, 4000);
const rt = await LlamaRuntime.create(model);
const T = (name: string, f: () => unknown) => { const t0 = performance.now(); const r = f(); console.log(name, ((performance.now() - t0) / 1000).toFixed(3)); return r; };
T("ppl", () => perplexity(rt, { bos: 1 }, ids));
T("ppl", () => perplexity(rt, { bos: 1 }, ids));
const b = T("baseLogProbs", () => baseLogProbs(rt, ids, 1)) as ReturnType<typeof baseLogProbs>;
console.log("entries/token", b.offsets[4000] / 4000);
T("saved", () => klDivergenceSaved(b, rt, ids, 1));
T("exact", () => klDivergenceRuntimes(rt, rt, ids, 1));
for (let i = 0; i < 2; i++) {
  T("ppl", () => perplexity(rt, { bos: 1 }, ids));
  T("exact", () => klDivergenceRuntimes(rt, rt, ids, 1));
  T("saved", () => klDivergenceSaved(b, rt, ids, 1));
}
