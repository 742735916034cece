/** Lopper's version as written into exports and recipes; kept equal to package.json's `version` (checked by a test). */
export const LOPPER_VERSION = '0.1.0';

/** The `generatedBy` of every model.json Lopper writes. */
export const GENERATED_BY = `Lopper ${LOPPER_VERSION}`;
