"""Training-speed benchmark: the original implementation's costs against this study's training step."""
