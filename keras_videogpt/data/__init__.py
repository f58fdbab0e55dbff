from keras_videogpt.data.moving_mnist import (generate_moving_mnist, mnist_digits,
                                              moving_mnist_dataset)
from keras_videogpt.data.tfrecords import clip_dataset, read_metadata
from keras_videogpt.data.video_folder import convert_video_folder
from keras_videogpt.data.codes import codes_dataset, encode_in_pipeline, write_codes
