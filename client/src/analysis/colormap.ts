/**
 * Heat-map overlays for the saliency gallery (pure: returns RGBA bytes). The colour map is the
 * piecewise-linear "jet" (blue → cyan → yellow → red), a few lines, so no plotting library is
 * pulled into the client for it.
 */

/** Jet colour of t in [0, 1] as [r, g, b] in [0, 1]. */
export function jet(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t));
  const channel = (centre: number): number => Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - centre)));
  return [channel(3), channel(2), channel(1)];
}

/**
 * The grey image with the map blended on top (opacity grows with the map's value, so cold
 * regions show the image), scaled up by an integer factor with nearest-neighbour pixels.
 * `map` is scaled to its own maximum; an all-zero map leaves the image grey.
 */
export function overlayRgba(
  image: ArrayLike<number>,
  map: ArrayLike<number>,
  size: number,
  scale: number,
): Uint8Array {
  let peak = 0;
  for (let i = 0; i < map.length; i++) peak = Math.max(peak, map[i] as number);
  const side = size * scale;
  const out = new Uint8Array(side * side * 4);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const source = Math.floor(y / scale) * size + Math.floor(x / scale);
      const grey = Math.min(1, Math.max(0, image[source] as number));
      const t = peak > 0 ? Math.max(0, map[source] as number) / peak : 0;
      const alpha = 0.6 * t;
      const colour = jet(t);
      const o = (y * side + x) * 4;
      for (let c = 0; c < 3; c++)
        out[o + c] = Math.round(255 * ((1 - alpha) * grey + alpha * (colour[c] as number)));
      out[o + 3] = 255;
    }
  }
  return out;
}
