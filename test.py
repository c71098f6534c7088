"""Watch or measure a saved policy, as on the slides: python test.py [--record DIR] [--episodes N].

The policy runs through trpo.evaluate; python test.py --help lists the flags.
"""
from trpo.cli import test_main

if __name__ == '__main__':
    test_main()
