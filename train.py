"""Train a TRPO policy, as on the slides: python train.py [flags]; tensorboard --logdir logs.

The options are trpo.TrainConfig's (python train.py --help); the loop is trpo.train.
"""
from trpo.cli import train_main

if __name__ == '__main__':
    train_main()
