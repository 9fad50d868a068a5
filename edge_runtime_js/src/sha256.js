/** Hex sha256 with Web Crypto: the same code in Node (>= 20) and the browser. */

/**
 * @param {Uint8Array | ArrayBuffer | string} data a string is hashed as its UTF-8 bytes
 * @returns {Promise<string>}
 */
export async function sha256Hex(data) {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await globalThis.crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
