/**
 * Causal attention over a cache that is partly full precision: query t reads key/value s from the
 * full-precision copy when t − s < window (the most recent tokens, KIVI's residual) and from the
 * quantized copy otherwise, so one teacher-forced pass scores every token as a streaming decoder
 * with that cache would. With window ≥ T every read is full precision and the result is the plain
 * attention's, bit for bit (the quantized half contributes exact zeros).
 */
import { tf } from "./tf.js";

/** q [T, H, hd] after RoPE; keys/values [T, kvH, hd] (keys after RoPE); returns [T, H·hd]. */
export function windowedAttention(
  q: tf.Tensor3D, kFull: tf.Tensor3D, kQuant: tf.Tensor3D, vFull: tf.Tensor3D, vQuant: tf.Tensor3D, window: number,
): tf.Tensor2D {
  const [T, H, hd] = q.shape;
  const group = H / kFull.shape[1];
  const recent = new Float32Array(T * T), mask = new Float32Array(T * T);
  for (let t = 0; t < T; t++)
    for (let s = 0; s < T; s++) {
      if (s > t) mask[t * T + s] = -1e9;
      else if (t - s < window) recent[t * T + s] = 1;
    }
  return tf.tidy(() => {
    // [kvH, T, hd] → [H, T, hd]: query head h reads KV head floor(h / group), as the runtime does.
    const heads = (t: tf.Tensor3D) => {
      const x = tf.transpose(t, [1, 0, 2]) as tf.Tensor3D;
      return group === 1 ? x : tf.reshape(tf.tile(tf.expandDims(x, 1), [1, group, 1, 1]), [H, T, hd]) as tf.Tensor3D;
    };
    const Q = tf.transpose(q, [1, 0, 2]);
    const r = tf.tile(tf.tensor3d(recent, [1, T, T]), [H, 1, 1]);
    const sFull = tf.mul(tf.matMul(Q, heads(kFull), false, true), 1 / Math.sqrt(hd));
    const sQuant = tf.mul(tf.matMul(Q, heads(kQuant), false, true), 1 / Math.sqrt(hd));
    const scores = tf.add(tf.where(tf.cast(r, "bool"), sFull, sQuant), tf.tensor2d(mask, [T, T]));
    const p = tf.softmax(scores);
    const att = tf.add(tf.matMul(tf.mul(p, r), heads(vFull)), tf.matMul(tf.mul(p, tf.sub(1, r)), heads(vQuant)));
    return tf.reshape(tf.transpose(att, [1, 0, 2]), [T, H * hd]) as tf.Tensor2D;
  });
}
