"""Numbers several layers share, without importing torch."""

MNIST_MEAN = 0.1307  # the training set's pixel mean and standard deviation in [0, 1]; the models normalize inside
MNIST_STD = 0.3081
