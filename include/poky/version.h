/* version.h - the release, set by the Makefile from the VERSION file. */
#ifndef POKY_VERSION_H
#define POKY_VERSION_H

#ifndef POKY_VERSION
#define POKY_VERSION "0.1.0-dev"
#endif

#endif
