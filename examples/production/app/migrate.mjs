// A stand-in migration: a real app runs its schema changes here.
console.log(`migrations for version ${process.env.APP_VERSION}: nothing to do`);
