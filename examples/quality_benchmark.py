"""Compare VAE and AVA1-AVA5 on digits by sample and reconstruction quality.

Trains every preset with routing="joint" under one budget on the 1,400
training digits (28x28x1) and scores it on the 397 held-out ones: classifier
FID and KID of samples, k-NN precision/recall, and reconstruction MSE, PSNR
and SSIM, mean ± SD over seeds. This script runs `ava-keras experiment
quality` and takes the same options, e.g.

    python examples/quality_benchmark.py --quick --out /tmp/quality_quick
    python examples/quality_benchmark.py --generator-loss non_saturating --label ns --out quality_results

"Classifier FID" uses ava_keras's own digit classifier (trained once in a few
seconds and cached in ~/.cache/ava_keras or $AVA_KERAS_CACHE): it ranks
models on digits and is not comparable with Inception FID.
"""

import argparse
import sys

from ava_keras.experiments import quality

## The metrics
# `ak.evaluation.mse / psnr / ssim` compare held-out digits with their
# reconstructions; `ak.evaluation.classifier_fid / classifier_kid /
# classifier_precision_recall` compare samples with held-out digits in the
# feature space of `ak.evaluation.DigitClassifier`.

## The benchmark
# `quality.run` trains every (preset, seed), writes a CSV of all runs, a
# markdown table (mean ± SD per preset beside two reference rows: real
# training digits and the mean digit), a JSON summary and one PNG of samples.

if __name__ == "__main__":
    parser = quality.add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    sys.exit(quality.run(parser.parse_args()))
