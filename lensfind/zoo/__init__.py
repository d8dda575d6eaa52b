"""Model zoo: upsampling stems, pretrained backbones, baselines and heads."""
