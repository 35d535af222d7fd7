/** The version of this package, sent in the `User-Agent` header. */
export const VERSION = "0.1.0";

/** The product token of this SDK in the `User-Agent` header. */
export const SDK_NAME = "timerkernel-js";
