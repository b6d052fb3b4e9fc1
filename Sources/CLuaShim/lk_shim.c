#include "lk_shim.h"
