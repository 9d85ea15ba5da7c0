// The declaration in include/CFuzzerDriver.h is all this target holds; the definition is libFuzzer's.
#include "CFuzzerDriver.h"
