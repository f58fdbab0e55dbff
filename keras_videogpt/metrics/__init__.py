from keras_videogpt.metrics.reconstruction import nmse
