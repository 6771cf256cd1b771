/**
 * The display protocol as the display layer and the DSL name it: declared once in
 * src/display-protocol.ts (dependency-free, so numerics and the kernel share the same declaration).
 */
export { DISPLAY, isDisplayable, type Displayable, type MimeBundle } from "../display-protocol.js";
