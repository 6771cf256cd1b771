/**
 * The DSL's model calls free what they upload: tfjs tensors are not garbage collected, so each
 * perplexityOf / generateText / kvStudy on a fresh model once left its 48 weight tensors allocated.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { generateText, kvStudy, loadModel, perplexityOf } from "../../src/dsl/models.js";
import { tf } from "../../src/model/runtime/tf.js";
import { sharedFile } from "../helpers/shared.js";

const model = sharedFile("stories260K-f32.gguf");

it("perplexityOf, generateText and kvStudy on fresh models leave no tfjs tensors allocated", { skip: model.skip }, async () => {
  await perplexityOf(await loadModel(model.path), "Once upon a time"); // the backend's own first-use tensors
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    const m = await loadModel(model.path);
    const r = await perplexityOf(m, "Once upon a time there was a little dog named Max.");
    assert.ok(Number.isFinite(r.perplexity));
    const g = await generateText(await loadModel(model.path), "Once", { maxTokens: 4 });
    assert.ok(g.text.length > 0);
  }
  await kvStudy(await loadModel(model.path), "Once upon a time there was a cat.", [{ format: "INT8", granularity: "token" }], { maxTokens: 16 });
  assert.equal(tf.memory().numTensors, before);
});
