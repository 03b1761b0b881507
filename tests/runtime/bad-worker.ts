// Worker entry that fails while loading.
throw new Error("cannot load this device");
